from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='PushedTransaction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('txn_id', fields.CharField(unique=True, max_length=255)),
                ('body', fields.TextField(unique=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('handled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'appservice_transaction', 'app': 'appservice', 'pk_attr': 'id', 'table_description': 'transactions pushed by the homeserver, until handled'},
            bases=['Model'],
        ),
    ]

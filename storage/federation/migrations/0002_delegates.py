from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('federation', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FederationDelegate',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('side', fields.CharField(max_length=16)),
                ('local_slug', fields.CharField(max_length=64)),
                ('local_space', fields.CharField(max_length=255)),
                ('remote_space', fields.CharField(max_length=255)),
                ('peer', fields.CharField(max_length=255)),
                ('user', fields.CharField(max_length=255)),
                ('state', fields.CharField(max_length=16)),
                ('key', fields.TextField(unique=False)),
                ('reason', fields.TextField(db_default='', unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'federation_delegate', 'app': 'federation', 'unique_together': (('side', 'local_space', 'remote_space', 'user'),), 'pk_attr': 'id', 'table_description': 'delegates seated across instances'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='OutboxRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('room_id', fields.CharField(max_length=255)),
                ('priority', fields.SmallIntField()),
                ('txn_seed', fields.TextField(unique=False)),
                ('event_type', fields.CharField(db_default='', max_length=255)),
                ('content', fields.TextField(db_default='{}', unique=False)),
                ('state_key', fields.TextField(db_default='', unique=False)),
                ('redacts', fields.CharField(db_default='', max_length=255)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('queued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_record', 'app': 'outbox', 'pk_attr': 'id', 'table_description': 'sends queued and not yet confirmed'},
            bases=['Model'],
        ),
    ]

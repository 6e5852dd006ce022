from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('consensus', '0004_moot_agenda_and_series')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ActionRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=128)),
                ('assembly', fields.CharField(max_length=64)),
                ('number', fields.IntField()),
                ('text', fields.TextField(unique=False)),
                ('owner', fields.CharField(max_length=255)),
                ('source', fields.CharField(max_length=128)),
                ('created_by', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('room_id', fields.CharField(max_length=255)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(max_length=16)),
                ('note', fields.TextField(null=True, unique=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('event_id', fields.CharField(null=True, unique=True, max_length=255)),
            ],
            options={'table': 'consensus_action', 'app': 'consensus', 'unique_together': (('assembly', 'number'),), 'pk_attr': 'id', 'table_description': 'action items with owners and due dates'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReviewRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('decision', fields.CharField(unique=True, max_length=128)),
                ('assembly', fields.CharField(max_length=64)),
                ('review_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('set_by', fields.CharField(max_length=255)),
            ],
            options={'table': 'consensus_review', 'app': 'consensus', 'pk_attr': 'id', 'table_description': 'review dates of decisions'},
            bases=['Model'],
        ),
    ]

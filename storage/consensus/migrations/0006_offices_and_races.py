from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('consensus', '0005_action_items_and_reviews')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HoldingRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('assembly', fields.CharField(max_length=64)),
                ('office', fields.CharField(max_length=16)),
                ('user', fields.CharField(max_length=255)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('how_decided', fields.CharField(max_length=16)),
                ('term_ends', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('by', fields.CharField(null=True, max_length=255)),
                ('evidence', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('decision_ref', fields.CharField(null=True, max_length=128)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consensus_office_holding', 'app': 'consensus', 'pk_attr': 'id', 'table_description': 'holders of configured offices with history'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RaceRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=128)),
                ('assembly', fields.CharField(max_length=64)),
                ('number', fields.IntField()),
                ('office', fields.CharField(max_length=16)),
                ('seats', fields.IntField()),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('opened_by', fields.CharField(null=True, max_length=255)),
                ('candidates', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(max_length=16)),
                ('ballot_id', fields.BigIntField(null=True, unique=True)),
                ('poll_ref', fields.CharField(null=True, max_length=128)),
            ],
            options={'table': 'consensus_race', 'app': 'consensus', 'unique_together': (('assembly', 'number'),), 'pk_attr': 'id', 'table_description': 'races for elected offices and their candidates'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('consensus', '0002_petition_candidates')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CheckRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=128)),
                ('assembly', fields.CharField(max_length=64)),
                ('number', fields.IntField()),
                ('proposal', fields.CharField(max_length=128)),
                ('room_id', fields.CharField(max_length=255)),
                ('event_id', fields.CharField(null=True, unique=True, max_length=255)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('opened_by', fields.CharField(max_length=255)),
                ('status', fields.CharField(max_length=16)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consensus_check', 'app': 'consensus', 'unique_together': (('assembly', 'number'),), 'pk_attr': 'id', 'table_description': 'consensus checks on proposals'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReasonRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('check', fields.ForeignKeyField('consensus.CheckRow', source_field='check_id', db_constraint=True, to_field='id', related_name='reasons', on_delete=OnDelete.CASCADE)),
                ('user', fields.CharField(max_length=255)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('asked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('given_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consensus_reason', 'app': 'consensus', 'unique_together': (('check', 'user'),), 'pk_attr': 'id', 'table_description': 'reasons given for stances'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StanceRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('check', fields.ForeignKeyField('consensus.CheckRow', source_field='check_id', db_constraint=True, to_field='id', related_name='stances', on_delete=OnDelete.CASCADE)),
                ('user', fields.CharField(max_length=255)),
                ('stance', fields.CharField(max_length=16)),
                ('event_id', fields.CharField(unique=True, max_length=255)),
                ('ts', fields.BigIntField()),
                ('member', fields.BooleanField()),
                ('withdrawn', fields.BooleanField(default=False)),
            ],
            options={'table': 'consensus_stance', 'app': 'consensus', 'pk_attr': 'id', 'table_description': 'stances taken on consensus checks'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='DecisionEntry',
            name='cites',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='DecisionEntry',
            name='recorded_by',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='DecisionEntry',
            name='without_quorum',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]

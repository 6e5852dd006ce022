from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('consensus', '0003_consensus_checks_and_recorders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MootSeriesRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=128)),
                ('assembly', fields.CharField(max_length=64)),
                ('number', fields.IntField()),
                ('topic', fields.TextField(unique=False)),
                ('rule', fields.CharField(max_length=512)),
                ('first_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('tz', fields.CharField(max_length=64)),
                ('duration_seconds', fields.IntField()),
                ('scheduled_by', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('exdates', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(max_length=16)),
                ('room_id', fields.CharField(max_length=255)),
            ],
            options={'table': 'consensus_moot_series', 'app': 'consensus', 'unique_together': (('assembly', 'number'),), 'pk_attr': 'id', 'table_description': 'recurring moots'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='MootRow',
            name='agenda',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='MootRow',
            name='series',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='DrawRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ref', fields.CharField(unique=True, max_length=100)),
                ('assembly', fields.CharField(max_length=64)),
                ('number', fields.IntField()),
                ('request', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(max_length=16)),
                ('created_by', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('room_id', fields.CharField(max_length=255)),
                ('reveal_by', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('frozen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('frozen', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_reason', fields.TextField(null=True, unique=False)),
                ('record', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('announced_at', fields.DatetimeField(null=True, description='When the frozen pool was announced (and the members told), and when the result was posted.', auto_now=False, auto_now_add=False)),
                ('result_posted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sortition_draw', 'app': 'sortition', 'unique_together': (('assembly', 'number'),), 'indexes': [Index(fields=['status'], name='sortition_draw_status')], 'pk_attr': 'id', 'table_description': 'draws by lot'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FeatureRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.CharField(max_length=255)),
                ('category', fields.CharField(max_length=32)),
                ('value', fields.CharField(max_length=32)),
                ('set_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sortition_feature', 'app': 'sortition', 'unique_together': (('user_id', 'category'),), 'pk_attr': 'id', 'table_description': 'self-described features for quotas'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PoolEntryRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('draw_ref', fields.CharField(max_length=100)),
                ('pseudonym', fields.CharField(max_length=64)),
                ('user_id', fields.CharField(null=True, description='None once the member asked to be forgotten (the published pool keeps the pseudonym).', max_length=255)),
                ('salt', fields.CharField(max_length=64)),
                ('type_label', fields.TextField(unique=False)),
                ('probability', fields.CharField(max_length=64)),
            ],
            options={'table': 'sortition_pool_entry', 'app': 'sortition', 'unique_together': (('draw_ref', 'pseudonym'),), 'indexes': [Index(fields=['user_id'], name='sortition_pool_entry_user')], 'pk_attr': 'id', 'table_description': 'frozen pools of draws'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SeatRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('draw_ref', fields.CharField(max_length=100)),
                ('assembly', fields.CharField(max_length=64)),
                ('user_id', fields.CharField(max_length=255)),
                ('type_label', fields.TextField(unique=False)),
                ('pseudonym', fields.CharField(max_length=64)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('term_ends', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('power', fields.CharField(max_length=16)),
                ('status', fields.CharField(max_length=16)),
                ('via', fields.CharField(max_length=16)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sortition_seat', 'app': 'sortition', 'unique_together': (('draw_ref', 'pseudonym'),), 'indexes': [Index(fields=['assembly', 'status'], name='sortition_seat_assembly_status'), Index(fields=['user_id'], name='sortition_seat_user')], 'pk_attr': 'id', 'table_description': 'seats taken by the drawn'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SortitionNoticeRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=255)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sortition_notice', 'app': 'sortition', 'pk_attr': 'id', 'table_description': 'reminders sent about draws'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WitnessRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('draw_ref', fields.CharField(max_length=100)),
                ('user_id', fields.CharField(max_length=255)),
                ('position', fields.IntField()),
                ('commitment', fields.CharField(null=True, max_length=64)),
                ('committed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reveal', fields.CharField(null=True, max_length=256)),
                ('revealed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sortition_witness', 'app': 'sortition', 'unique_together': (('draw_ref', 'user_id'),), 'pk_attr': 'id', 'table_description': 'witnesses of draws'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('action', fields.CharField(max_length=64)),
                ('room_id', fields.CharField(null=True, max_length=255)),
                ('target_user', fields.CharField(null=True, max_length=255)),
                ('actor', fields.CharField(null=True, max_length=255)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'core_audit_record', 'app': 'core', 'pk_attr': 'id', 'table_description': 'append-only audit log'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginSession',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('device_id', fields.CharField(max_length=255)),
                ('access_token', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'core_login_session', 'app': 'core', 'pk_attr': 'user_id', 'table_description': 'bot login per account'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProcessedEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.CharField(unique=True, max_length=255)),
                ('room_id', fields.CharField(max_length=255)),
                ('processed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'core_processed_event', 'app': 'core', 'pk_attr': 'id', 'table_description': 'events already handled, for idempotency'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SyncToken',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('token', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'core_sync_token', 'app': 'core', 'pk_attr': 'user_id', 'table_description': 'sync token per bot account'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AppliedPeerMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sender', fields.CharField(max_length=255)),
                ('key', fields.CharField(max_length=400)),
                ('kind', fields.CharField(max_length=32)),
                ('applied_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'federation_applied', 'app': 'federation', 'unique_together': (('sender', 'key'),), 'pk_attr': 'id', 'table_description': 'peer messages applied (idempotency)'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FederationLink',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('side', fields.CharField(max_length=16)),
                ('local_slug', fields.CharField(max_length=64)),
                ('local_space', fields.CharField(max_length=255)),
                ('remote_space', fields.CharField(max_length=255)),
                ('peer', fields.CharField(max_length=255)),
                ('state', fields.CharField(max_length=16)),
                ('key', fields.TextField(unique=False)),
                ('via', fields.TextField(db_default='[]', unique=False)),
                ('remote_label', fields.TextField(db_default='', unique=False)),
                ('reason', fields.TextField(db_default='', unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'federation_link', 'app': 'federation', 'unique_together': (('side', 'local_space', 'remote_space'),), 'pk_attr': 'id', 'table_description': 'nestings across instances'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PeerRoomRow',
            fields=[
                ('peer', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('room_id', fields.CharField(max_length=255)),
            ],
            options={'table': 'federation_peer_room', 'app': 'federation', 'pk_attr': 'peer', 'table_description': 'the encrypted room shared with each peer bot'},
            bases=['Model'],
        ),
    ]

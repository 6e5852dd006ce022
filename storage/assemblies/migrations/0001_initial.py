from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Admission',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.CharField(max_length=255)),
                ('slug', fields.CharField(max_length=64)),
                ('admitted_by', fields.CharField(max_length=255)),
                ('admitted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assemblies_admission', 'app': 'assemblies', 'unique_together': (('user_id', 'slug'),), 'pk_attr': 'id', 'table_description': 'admissions by secretaries'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AssemblyRoomRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(max_length=64)),
                ('kind', fields.CharField(max_length=32)),
                ('room_id', fields.CharField(unique=True, max_length=255)),
                ('room_version', fields.CharField(default='12', max_length=32)),
            ],
            options={'table': 'assemblies_room', 'app': 'assemblies', 'unique_together': (('slug', 'kind'),), 'pk_attr': 'id', 'table_description': 'rooms of each assembly'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AssemblyRow',
            fields=[
                ('slug', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('position', fields.IntField(default=0)),
                ('data', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'assemblies_assembly', 'app': 'assemblies', 'pk_attr': 'slug', 'table_description': 'registry of assemblies'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Declaration',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.CharField(max_length=255)),
                ('slug', fields.CharField(max_length=64)),
                ('declared_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assemblies_declaration', 'app': 'assemblies', 'unique_together': (('user_id', 'slug'),), 'pk_attr': 'id', 'table_description': 'private self-declarations'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DirectRoom',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('room_id', fields.CharField(max_length=255)),
            ],
            options={'table': 'assemblies_direct_room', 'app': 'assemblies', 'pk_attr': 'user_id', 'table_description': 'direct rooms with people'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnforcementWarning',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.CharField(max_length=255)),
                ('room_id', fields.CharField(max_length=255)),
                ('slug', fields.CharField(max_length=64)),
                ('warned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assemblies_warning', 'app': 'assemblies', 'unique_together': (('user_id', 'room_id'),), 'pk_attr': 'id', 'table_description': 'enforcement warnings issued'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PendingDeclaration',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.CharField(max_length=255)),
                ('slug', fields.CharField(max_length=64)),
                ('dm_room_id', fields.CharField(max_length=255)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assemblies_pending_declaration', 'app': 'assemblies', 'unique_together': (('user_id', 'slug'),), 'pk_attr': 'id', 'table_description': 'declaration requests awaiting an answer'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0002_event_kind_and_age_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PartyMember',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('added_by', fields.CharField(max_length=255)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'core_party_member', 'app': 'core', 'pk_attr': 'user_id', 'table_description': 'the party membership registry'},
            bases=['Model'],
        ),
    ]

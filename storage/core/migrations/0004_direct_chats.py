from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0003_party_members')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DirectChat',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('room_id', fields.CharField(unique=True, max_length=255)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'core_direct_chat', 'app': 'core', 'pk_attr': 'user_id', 'table_description': 'direct chats between the bot and one person'},
            bases=['Model'],
        ),
    ]

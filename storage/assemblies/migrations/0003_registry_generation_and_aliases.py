from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    """The registry's change counter (a running bot notices an import) and each room's canonical alias."""

    dependencies = [('assemblies', '0002_direct_chats_moved_to_core')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RegistryGeneration',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'assemblies_generation', 'app': 'assemblies', 'pk_attr': 'name', 'table_description': 'registry change counter'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AssemblyRoomRow',
            name='alias',
            field=fields.CharField(null=True, description='Its canonical alias (``#party-discussion:example.org``) once the bot has set it.', max_length=255),
        ),
    ]

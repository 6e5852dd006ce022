from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProcessedEvent',
            name='kind',
            field=fields.CharField(db_default='', max_length=32),
        ),
        ops.AddIndex(
            model_name='ProcessedEvent',
            index=Index(fields=['processed_at'], name='core_processed_event_age'),
        ),
    ]

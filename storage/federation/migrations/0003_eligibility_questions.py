from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('federation', '0002_delegates')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EligibilityQuestion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=400)),
                ('peer', fields.CharField(max_length=255)),
                ('user', fields.CharField(max_length=255)),
                ('at', fields.BigIntField()),
                ('answer', fields.BooleanField(null=True)),
                ('asked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'federation_eligibility_question', 'app': 'federation', 'pk_attr': 'id', 'table_description': 'membership questions asked of peer instances (yes/no)'},
            bases=['Model'],
        ),
    ]

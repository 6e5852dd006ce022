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
            name='AnonymousBallotRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll_id', fields.IntField()),
                ('scores', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'polls_anonymous_ballot', 'app': 'polls', 'indexes': [Index(fields=['poll_id'], name='polls_anonymous_ballot_poll')], 'pk_attr': 'id', 'table_description': 'unlinked ballots of closed secret polls'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PollOptionRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll_id', fields.IntField()),
                ('position', fields.IntField()),
                ('label', fields.TextField(unique=False)),
                ('event_id', fields.CharField(null=True, unique=True, max_length=255)),
            ],
            options={'table': 'polls_option', 'app': 'polls', 'unique_together': (('poll_id', 'position'),), 'pk_attr': 'id', 'table_description': 'options of polls'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PollRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room_id', fields.CharField(max_length=255)),
                ('question', fields.TextField(unique=False)),
                ('seats', fields.IntField(default=1)),
                ('secret', fields.BooleanField(default=False)),
                ('eligibility', fields.CharField(default='members', max_length=16)),
                ('closes_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='open', max_length=16)),
                ('created_by', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('origin', fields.CharField(null=True, max_length=255)),
                ('source_key', fields.CharField(null=True, unique=True, max_length=255)),
                ('header_event_id', fields.CharField(null=True, max_length=255)),
                ('result', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('results_event_id', fields.CharField(null=True, max_length=255)),
                ('origin_notified', fields.BooleanField(default=False)),
            ],
            options={'table': 'polls_poll', 'app': 'polls', 'indexes': [Index(fields=['status'], name='polls_poll_status')], 'pk_attr': 'id', 'table_description': 'polls'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReactionRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.CharField(unique=True, max_length=255)),
                ('poll_id', fields.IntField()),
                ('position', fields.IntField()),
                ('voter', fields.CharField(max_length=255)),
                ('score', fields.SmallIntField()),
                ('ts', fields.BigIntField()),
                ('superseded', fields.BooleanField(default=False)),
                ('withdrawn', fields.BooleanField(default=False)),
                ('source', fields.CharField(default='reaction', max_length=16)),
            ],
            options={'table': 'polls_reaction', 'app': 'polls', 'indexes': [Index(fields=['poll_id', 'voter'], name='polls_reaction_voter')], 'pk_attr': 'id', 'table_description': 'counted vote reactions'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll_id', fields.IntField()),
                ('kind', fields.CharField(max_length=32)),
                ('event_id', fields.CharField(max_length=255)),
                ('detail', fields.TextField(unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'polls_reconciliation', 'app': 'polls', 'pk_attr': 'id', 'table_description': 'differences found by the recount at close'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SecretBallotRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll_id', fields.IntField()),
                ('voter', fields.CharField(max_length=255)),
                ('scores', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'polls_secret_ballot', 'app': 'polls', 'unique_together': (('poll_id', 'voter'),), 'pk_attr': 'id', 'table_description': 'voter-linked secret ballots of open polls'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ToldRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll_id', fields.IntField()),
                ('user_id', fields.CharField(max_length=255)),
                ('reason', fields.CharField(max_length=32)),
            ],
            options={'table': 'polls_told', 'app': 'polls', 'unique_together': (('poll_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'private notices sent per poll and person'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """Direct chats are kept once, in core (``core_direct_chat``); carry the rows over, then drop ours."""

    dependencies = [('assemblies', '0001_initial'), ('core', '0004_direct_chats')]

    initial = False

    operations = [
        ops.RunSQL(
            "INSERT INTO core_direct_chat (user_id, room_id, since) "
            "SELECT user_id, room_id, CURRENT_TIMESTAMP FROM assemblies_direct_room "
            "WHERE room_id NOT IN (SELECT room_id FROM core_direct_chat) "
            "ON CONFLICT (user_id) DO NOTHING",
            reverse_sql="INSERT INTO assemblies_direct_room (user_id, room_id) "
                        "SELECT user_id, room_id FROM core_direct_chat",
        ),
        ops.DeleteModel(name='DirectRoom'),
    ]

"""Reading the party membership registry from a CSV export (pure: the caller reads the file).

Membership is special-category data (docs/spec/product.md §5): errors name the line and the problem but
never echo a row's other columns, and nothing here logs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId, looks_like_user_id

#: The one column we read; any other columns (names, emails, …) are ignored, never stored.
MATRIX_ID_COLUMN = "matrix_id"


class MembershipFileError(UserError):
    """The CSV cannot be read at all (no header, no ``matrix_id`` column)."""


@dataclass(frozen=True)
class RowError:
    """One row that could not be used; ``line`` is the 1-based line in the file."""

    line: int
    message: str

    def describe(self, source: str) -> str:
        """``members.csv, line 4: …``."""
        return f"{source}, line {self.line}: {self.message}"


@dataclass(frozen=True)
class MembersImport:
    """The result of :func:`parse_members_csv`: the members found and the rows skipped."""

    members: frozenset[UserId]
    errors: tuple[RowError, ...] = ()


def parse_members_csv(text: str, *, source: str = "members.csv") -> MembersImport:
    """Parse a members CSV: a header row with a ``matrix_id`` column, one member per row.

    The column name is matched case-insensitively; other columns are ignored. Blank rows are
    skipped. A row with an empty or malformed ID, or an ID already seen, becomes a
    :class:`RowError` naming its line, and the rest of the file is still read, so one typo does
    not block an import (the caller decides whether errors abort it).
    Raises :class:`MembershipFileError` if there is no header or no ``matrix_id`` column.
    """
    # Spreadsheet exports often start with a byte-order mark, which would hide the column name.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise MembershipFileError(f"{source}: the file is empty") from None
    except csv.Error as exc:
        raise MembershipFileError(f"{source}, line 1: not valid CSV ({exc})") from None
    names = [h.strip().lower() for h in header]
    if MATRIX_ID_COLUMN not in names:
        raise MembershipFileError(
            f"{source}, line 1: no {MATRIX_ID_COLUMN!r} column in the header "
            f"(found: {', '.join(repr(h) for h in header) or 'nothing'})"
        )
    column = names.index(MATRIX_ID_COLUMN)

    members: set[UserId] = set()
    first_seen: dict[str, int] = {}
    errors: list[RowError] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, f"not valid CSV ({exc})"))
            break  # the reader cannot resynchronise after a broken quote
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        value = row[column].strip() if column < len(row) else ""
        if not value:
            errors.append(RowError(line, f"the {MATRIX_ID_COLUMN} cell is empty"))
        elif not looks_like_user_id(value):
            # The bad value is the row's own ID, not anyone else's data; show it to help fix it.
            errors.append(
                RowError(line, f"{value!r} is not a Matrix user ID like @name:example.org")
            )
        elif value in first_seen:
            errors.append(RowError(line, f"{value} is already listed on line {first_seen[value]}"))
        else:
            first_seen[value] = line
            members.add(UserId(value))
    return MembersImport(frozenset(members), tuple(errors))

"""A stand-in for a service's own state table."""

import sqlalchemy as sa

widget_metadata = sa.MetaData()
widgets = sa.Table("widgets", widget_metadata, sa.Column("id", sa.String(64), primary_key=True))

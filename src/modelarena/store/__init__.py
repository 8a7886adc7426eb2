"""Persistence: SQLAlchemy tables, queries and Alembic migrations (SQLite or PostgreSQL).

No other package writes SQL; they call the functions in `repo`.
"""

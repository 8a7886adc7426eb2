"""The arena: battles, votes, pages and the live leaderboard."""

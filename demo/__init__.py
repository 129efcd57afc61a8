"""`cjm demo`: the real bot with simulated guests on an in-process fake Telegram.

Its own room: it may import bot/, surveys/, storage/ and reports/; none of them imports
it. Only the `cjm` console script (cjm.py) knows both the bot's commands and this one.
"""

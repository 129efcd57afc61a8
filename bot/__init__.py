"""The Telegram side of the bot."""

from bot.aiogram_lazy import defer_aiogram_types

defer_aiogram_types()  # before any aiogram import: see bot/aiogram_lazy.py

"""Inbound mail: parse a raw message (`parse`), find its thread (`match`), store it (`store`)."""

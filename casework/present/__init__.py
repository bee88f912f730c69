"""Presentation: Chinese sentences from computed numbers, display tables and labels, CJK charts,
and access levels (masking, pseudonyms, small-cell suppression)."""

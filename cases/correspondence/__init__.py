"""Correspondence with partners: notices composed, approved and sent; replies received, matched and stored."""

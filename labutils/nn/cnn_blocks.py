"""(to be written: see its chapter issue)"""
__all__ = []

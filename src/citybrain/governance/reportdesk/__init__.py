"""The public report desk (Art16 ¶2): anyone reports an illegal data use and follows it by a
receipt code."""

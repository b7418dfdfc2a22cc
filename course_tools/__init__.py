"""How the course is built and checked: notebook sync and solutions, `make run`, the GPU rehearsal and its stand-ins,
the classroom mirror's download, the offline Llama 3 tokenizer and the T4 figures in the documents.

No notebook imports this package (tests/test_layout.py fails if one does); lessons import course_utils only.
"""

# Shortcuts for the README's commands; dev.py does the work and needs no make.
.PHONY: demo test docs

demo:
	python3 dev.py demo

test:
	python3 dev.py test

docs:
	python3 dev.py docs

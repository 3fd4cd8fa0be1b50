# Shortcuts for the two commands of the README; dev.py does the work and needs no make.
.PHONY: demo test

demo:
	python3 dev.py demo

test:
	python3 dev.py test

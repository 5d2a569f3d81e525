.PHONY: dev worker test test-pg test-fast lint types migrate bench

dev:            ## the embedded default: API + background worker, SQLite and local storage
	uv run reftrack serve

worker:         ## a production worker (set REFTRACK_DATABASE_URL, REFTRACK_BROKER_URL, REFTRACK_S3_*)
	uv run reftrack worker

migrate:
	uv run reftrack migrate

test:           ## the whole suite (PostgreSQL, Redis, RabbitMQ tests skip when those are not running)
	uv run pytest

test-pg:        ## fail instead of skipping when PostgreSQL or the brokers are missing
	REFTRACK_TEST_REQUIRE_POSTGRES=1 uv run pytest

test-fast:      ## everything but the end-to-end tests
	uv run pytest -m "not e2e"

lint:
	uv run ruff check .
	uv run ruff format --check .

types:
	uv run mypy

"""Kintone's limits, in one place; the writer and reader chunk by them (docs/kintone-api.md §3)."""

RECORDS_PER_WRITE = 100
"""Records in one POST/PUT/DELETE records.json."""
REQUESTS_PER_BULK = 20
"""Sub-requests in one bulkRequest.json: 2,000 records per HTTP call."""
RECORDS_PER_READ = 500
"""`limit` of one GET records.json, and the largest cursor page."""
MAX_OFFSET = 10_000
"""The deepest `offset` a read may use; the reader pages by `$id` instead, so it never needs one."""
CONCURRENT_REQUESTS_PER_DOMAIN = 100
REQUESTS_PER_APP_PER_DAY = 10_000
MAX_URL_LENGTH = 4096
"""Beyond this a GET goes as POST with X-HTTP-Method-Override, as the official client does."""
ISOLATION_REQUESTS_PER_RUN = 500
"""Not Kintone's: the default ceiling on requests one run spends finding the rows Kintone
refuses (`limits.isolation_requests` in the project file); 5% of a standard app's daily 10,000."""

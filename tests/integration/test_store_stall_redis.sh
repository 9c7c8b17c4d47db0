#!/bin/bash
# The store-stall attack (see test_store_stall.sh) at the store on Redis: a user who stops
# their own sudo mid-transaction must not hold the lease {stall}:lease that other logins
# wait for, and a lease left by a killed holder expires, so that the store recovers.
STALL_BACKEND=redis exec bash "$(dirname "$0")/test_store_stall.sh"

"""The cybozu.com User API as a destination: users, departments and memberships."""

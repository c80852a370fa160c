"""Building blocks with no business knowledge: database, types, errors, pagination, money, clock."""




# after blank lines
a = 1




# leading comment
    # indented comment at top level
a = 1 # trailing
b {
# inside, not indented
      # inside, over-indented
  c = 2 #no space
  d = 3#tight
}
# closing comment

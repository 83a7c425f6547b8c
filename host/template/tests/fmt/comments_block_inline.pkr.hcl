a = /* before value */ 1
b /* between */ = 2
c = [1, /* in list */ 2]
/* before block */ d {
  e = 1 /* trailing block comment */
  ff = 2 /* another */
}
g = f(/* arg */ 1)

// leading
a = 1 // trailing
b {
// inside
  c = [
    // in a list
    1, // after element
    2
  ]
}

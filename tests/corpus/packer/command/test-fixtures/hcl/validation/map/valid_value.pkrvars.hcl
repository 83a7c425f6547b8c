
image_metadata = {
  key: "value",
  something: { 
    foo: "barwoo",
  }
}

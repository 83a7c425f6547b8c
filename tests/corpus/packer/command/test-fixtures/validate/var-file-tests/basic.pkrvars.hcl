test = "myvalue"

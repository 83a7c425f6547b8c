a = 1   
b {   
  c = 2	
}  
# comment keeps its trailing space   

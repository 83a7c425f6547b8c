locals={ 
 a=1
}

image="debian:11"
packages=["vim" , "htop"]
settings={
enabled=true
level = 3
}

echo Set WinRM start type to auto
sc config winrm start= auto

. sc.exe config winrm start= auto

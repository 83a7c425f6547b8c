Welcome to ${name}!
%{ for i in items ~}
- ${i}
%{ endfor ~}

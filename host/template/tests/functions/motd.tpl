%{ for h in hosts ~}
${h} (${region})
%{ endfor ~}

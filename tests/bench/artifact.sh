# Sourced by the post-processor benchmarks (from the repository root, with $work set).
# `disk_image MIB` writes $work/disk.img: half moderately compressible text, half random
# bytes, neither best nor worst case for a compressor. `artifact_template FILE STEPS`
# writes $work/FILE, a build whose null source makes no files, so an `artifice` step names
# disk.img; STEPS (HCL post-processor blocks) follow it in the same chain.
disk_image() {
    half=$(($1 / 2))
    { yes 'kiln post-processor benchmark line of moderately compressible text' | head -c $((half * 1048576))
      head -c $((($1 - half) * 1048576)) /dev/urandom; } > "$work/disk.img"
}

artifact_template() {
    cat > "$work/$1" <<HCL
source "null" "bench" {
  communicator = "none"
}
build {
  sources = ["source.null.bench"]
  post-processors {
    post-processor "artifice" {
      files = ["disk.img"]
    }
    $2
  }
}
HCL
}

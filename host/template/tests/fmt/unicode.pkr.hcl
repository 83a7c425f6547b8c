locals {
  ü = "grüße"
  ab = "日本語"
  greeting = "héllo" # ✓ checked
  x = "ß" # ñ
  emoji = "🚀🚀" # rocket
}

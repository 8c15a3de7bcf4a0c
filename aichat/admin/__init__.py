"""The admin console: login now; the console pages come later."""

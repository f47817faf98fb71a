"""Guest-side files shipped inside the image: the init script (`init`)."""
